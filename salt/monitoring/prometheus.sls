# The Prometheus server on the node whose pillar says monitoring:prometheus:server: true
# (Debian's prometheus). It scrapes itself and every node's exporter, found through file-based
# service discovery: the targets file is rewritten from the mine, and Prometheus re-reads it by
# itself (a new node needs no restart). The pillar's thresholds become alert rules. promtool checks
# the rules and prometheus.yml before they are put in place.
{%- set prom = salt['monitoring.prometheus_config'](targets=True) %}
monitoring-prometheus-package:
  pkg.installed:
    - name: prometheus
    - install_recommends: False   # it recommends the node exporter: exporter.sls installs that

monitoring-prometheus-targets-dir:
  file.directory:
    - name: {{ prom.targets_dir }}
    - mode: '0755'
    - require:
      - pkg: monitoring-prometheus-package
{%- for name, text in prom.targets | dictsort %}

monitoring-prometheus-targets-{{ name }}:
  file.managed:
    - name: {{ prom.targets_dir }}/{{ name }}
    - contents: {{ text | yaml_encode }}
    - mode: '0644'
    - require:
      - file: monitoring-prometheus-targets-dir
    - require_in:
      - file: monitoring-prometheus-config
{%- endfor %}

monitoring-prometheus-rules-dir:
  file.directory:
    - name: {{ prom.rules_dir }}
    - mode: '0755'
    - require:
      - pkg: monitoring-prometheus-package

# monitoring:thresholds as alert rules (Graphite-only sources left out), and the defaults.
monitoring-prometheus-rules:
  file.managed:
    - name: {{ prom.rules_file }}
    - contents: {{ prom.rules | yaml_encode }}
    - mode: '0644'
    - check_cmd: /usr/bin/promtool check rules
    - require:
      - file: monitoring-prometheus-rules-dir
    - require_in:
      - file: monitoring-prometheus-config

monitoring-prometheus-config:
  file.managed:
    - name: {{ prom.config_file }}
    - contents: {{ prom.config | yaml_encode }}
    - mode: '0644'
    - check_cmd: /usr/bin/promtool check config
    - require:
      - pkg: monitoring-prometheus-package

monitoring-prometheus-defaults:
  file.managed:
    - name: {{ prom.defaults_file }}
    - contents: {{ prom.defaults | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-prometheus-package

monitoring-prometheus-service:
  service.running:
    - name: {{ prom.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-prometheus-config
      - file: monitoring-prometheus-rules
      - file: monitoring-prometheus-defaults
