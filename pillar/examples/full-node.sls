# Example: DevStack's default service list minus a few, with plugins and multi-valued options.
# Copy what you need into your own pillar tree; keys are explained in README.md.
devstack:
  disable_all_services: false        # start from DevStack's default ENABLED_SERVICES
  services:
    horizon: false                   # disable_service horizon
    tempest: false
    swift: true                      # alias for s-proxy s-object s-container s-account
  localrc:
    ADMIN_PASSWORD: ChangeMe0123     # alphanumeric: DevStack puts passwords in URLs
    SERVICE_PASSWORD: {ref: ADMIN_PASSWORD}
    DATABASE_PASSWORD: {ref: ADMIN_PASSWORD}
    RABBIT_PASSWORD: {ref: ADMIN_PASSWORD}
    SWIFT_HASH: 66a3d6b56c1f479c8b4e70ab5c2000f5
    HOST_IP: 192.0.2.10
    LIBS_FROM_GIT: python-openstackclient,oslo.config   # a literal: quoted safely for bash
    LOGFILE: {expand: "${DEST}/logs/stack.sh.log"}
  plugins:
    barbican: https://opendev.org/openstack/barbican
    heat:
      url: https://opendev.org/openstack/heat
      ref: stable/2026.2
    octavia:
      url: https://opendev.org/openstack/octavia
      requires: [barbican]           # enabled after barbican
  known_variables: [OCTAVIA_CONF]    # defined by the octavia plugin, used in a header below
  config:
    post-config:
      $NOVA_CONF:
        DEFAULT:
          debug: true
        filter_scheduler:
          enabled_filters: [ComputeFilter, ImagePropertiesFilter]  # a list: one line each
      $OCTAVIA_CONF:
        api_settings:
          default_provider_driver: amphora
      /$Q_PLUGIN_CONF_FILE:
        ml2:
          extension_drivers: port_security
    test-config:
      $TEMPEST_CONFIG:
        compute:
          min_compute_nodes: 1
