# devstack1: a DevStack node. DATABASE_HOST and RABBIT_HOST come from the mine (db1, mq1);
# DevStack's own mysql and rabbit are disabled because those servers are remote.
roles: [devstack]
devstack:
  stack: true
  services:
    mysql: false
