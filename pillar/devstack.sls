# The default DevStack node. The schema is documented in README.md ("The devstack pillar").
# Passwords come from secrets.sls (generated, never in git); references below reuse them.
# The database and the broker are this project's roles (decoupled: MariaDB and RabbitMQ are
# managed by them, not by stack.sh), so DATABASE_* and RABBIT_* come from their pillars.
devstack:
  user: stack
  dest: /opt/stack
  database: true
  broker: true
  disable_all_services: true
  services:
    keystone: true
    mysql: false                  # the database role runs MariaDB
    swift: true
  localrc:
    SERVICE_PASSWORD: {ref: ADMIN_PASSWORD}
    SWIFT_REPLICAS: 1
    SWIFT_DATA_DIR: {expand: "${DEST}/data/swift"}
    LOGFILE: {expand: "${DEST}/logs/stack.sh.log"}
{%- if grains.get('devstack_salt_address') %}
    # The node's own address (bin/setup or bin/cluster minion --address): DevStack's guess takes
    # the default route's address and refuses one in 10.0.0.0/22 (a VirtualBox NAT, lxc-net).
    HOST_IP: {{ grains['devstack_salt_address'] }}
{%- endif %}
  config:
    post-config:
      $KEYSTONE_CONF:
        token:
          expiration: 7200
      $SWIFT_CONFIG_PROXY_SERVER:
        app:proxy-server:
          node_timeout: 120
