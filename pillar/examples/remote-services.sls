# Example: a DevStack node whose database and message broker run on other nodes
# (decoupled: the broker buffers work while a service restarts). The local mysql and rabbit
# services are disabled; DevStack is pointed at the remote ones.
devstack:
  disable_all_services: true
  services:
    keystone: true
    glance: true
    mysql: false
    rabbit: false
  localrc:
    ADMIN_PASSWORD: ChangeMe0123
    SERVICE_PASSWORD: {ref: ADMIN_PASSWORD}
    DATABASE_TYPE: mysql
    DATABASE_HOST: 192.0.2.20
    DATABASE_USER: devstack
    DATABASE_PASSWORD: DbPassw0rd
    RABBIT_HOST: 192.0.2.21
    RABBIT_USERID: devstack
    RABBIT_PASSWORD: RabbitPassw0rd
    SERVICE_HOST: 192.0.2.10
