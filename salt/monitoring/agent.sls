# The collectd agent: plugins from pillar through one generic renderer, write_graphite to the
# carbon host of the pillar. The file is 0600 and its diff is hidden when it holds a password.
monitoring-collectd-package:
  pkg.installed:
    - name: collectd-core

monitoring-collectd-conf:
  file.managed:
    - name: /etc/collectd/collectd.conf
    - contents: {{ salt['monitoring.collectd_conf']() | yaml_encode }}
    - mode: '0600'
    - makedirs: True
    - show_changes: {{ not salt['monitoring.collectd_has_secret']() }}
    - require:
      - pkg: monitoring-collectd-package

monitoring-collectd-service:
  service.running:
    - name: collectd
    - watch:
      - file: monitoring-collectd-conf
