# Prometheus's node exporter on every node of a cloud whose monitoring:backend includes
# prometheus (Debian's prometheus-node-exporter), listening where monitoring:prometheus says: the
# node's mine address unless node_exporter:address names another. The textfile collector reads
# /var/lib/prometheus/node-exporter (Debian's default).
{%- set prom = salt['monitoring.prometheus_config']() %}
monitoring-node-exporter-package:
  pkg.installed:
    - name: prometheus-node-exporter
    - install_recommends: False   # dbus and the collectors' timers: not what this node needs

monitoring-node-exporter-defaults:
  file.managed:
    - name: {{ prom.exporter.defaults_file }}
    - contents: {{ prom.exporter.defaults | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-node-exporter-package

monitoring-node-exporter-service:
  service.running:
    - name: {{ prom.exporter.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-node-exporter-defaults
