# The default DevStack node. The schema is documented in README.md ("The devstack pillar").
# Passwords come from secrets.sls (generated, never in git); references below reuse them.
devstack:
  user: stack
  dest: /opt/stack
  disable_all_services: true
  services:
    keystone: true
    mysql: true
    swift: true
  localrc:
    SERVICE_PASSWORD: {ref: ADMIN_PASSWORD}
    DATABASE_PASSWORD: {ref: ADMIN_PASSWORD}
    SWIFT_REPLICAS: 1
    SWIFT_DATA_DIR: {expand: "${DEST}/data/swift"}
    LOGFILE: {expand: "${DEST}/logs/stack.sh.log"}
  config:
    post-config:
      $KEYSTONE_CONF:
        token:
          expiration: 7200
      $SWIFT_CONFIG_PROXY_SERVER:
        app:proxy-server:
          node_timeout: 120
