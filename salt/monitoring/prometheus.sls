# The Prometheus server on the node whose pillar says monitoring:prometheus:server: true
# (Debian's prometheus). It scrapes itself and every node's exporter, found through file-based
# service discovery: the targets file is rewritten from the mine, and Prometheus re-reads it by
# itself (a new node needs no restart). The pillar's thresholds and watched services become alert
# rules. promtool checks the rules and prometheus.yml before they are put in place. Where this
# node's reactions run masterless, Alertmanager sends every firing alert to the webhook the
# reactions' daemon serves (salt/monitoring/reactor.sls), with a bearer token from a file. Its
# consoles (/consoles/index.html) show every node and role.
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

# The consoles: an index of every node and role the server scrapes, and a page per node and per
# role (Prometheus's console templates, read on each request: no restart, no state of their own).
monitoring-prometheus-console-library:
  file.managed:
    - name: {{ prom.console_libraries_dir }}/devstack-salt.lib
    - source: salt://monitoring/files/console_libraries/devstack-salt.lib
    - mode: '0644'
    - makedirs: True
    - require:
      - pkg: monitoring-prometheus-package

monitoring-prometheus-consoles:
  file.recurse:
    - name: {{ prom.consoles_dir }}
    - source: salt://monitoring/files/consoles
    - file_mode: '0644'
    - dir_mode: '0755'
    - require:
      - pkg: monitoring-prometheus-package

{%- if prom.alertmanager %}

monitoring-alertmanager-package:
  pkg.installed:
    - name: prometheus-alertmanager

# The webhook's bearer token, for Alertmanager (user prometheus) and the daemon (root) only.
monitoring-alertmanager-token:
  file.managed:
    - name: {{ prom.alertmanager.token_file }}
    - contents_pillar: monitoring:prometheus:alertmanager:hook_token
    - contents_newline: False
    - user: prometheus
    - group: prometheus
    - mode: '0600'
    - show_changes: False
    - require:
      - pkg: monitoring-alertmanager-package

monitoring-alertmanager-config:
  file.managed:
    - name: {{ prom.alertmanager.config_file }}
    - contents: {{ prom.alertmanager.config | yaml_encode }}
    - mode: '0644'
    - check_cmd: /usr/bin/amtool check-config
    - require:
      - pkg: monitoring-alertmanager-package

monitoring-alertmanager-defaults:
  file.managed:
    - name: {{ prom.alertmanager.defaults_file }}
    - contents: {{ prom.alertmanager.defaults | yaml_encode }}
    - mode: '0644'
    - makedirs: True
    - require_in:
      - pkg: monitoring-alertmanager-package   # in place before the package starts it

monitoring-alertmanager-service:
  service.running:
    - name: {{ prom.alertmanager.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-alertmanager-token
      - file: monitoring-alertmanager-config
      - file: monitoring-alertmanager-defaults
    - require_in:
      - service: monitoring-prometheus-service
{%- endif %}

monitoring-prometheus-defaults:
  file.managed:
    - name: {{ prom.defaults_file }}
    - contents: {{ prom.defaults | yaml_encode }}
    - mode: '0644'
    - makedirs: True
    - require_in:
      - pkg: monitoring-prometheus-package   # in place before the package starts it

# A new prometheus.yml or rules file is re-read (SIGHUP), not restarted into: the targets it drops
# (Debian's own localhost ones on a first install) are marked stale at once, where a restart would
# leave their last samples answering queries for five minutes.
monitoring-prometheus-service:
  service.running:
    - name: {{ prom.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - reload: True
    - watch:
      - file: monitoring-prometheus-config
      - file: monitoring-prometheus-rules

# New flags (/etc/default/prometheus) need a restart.
monitoring-prometheus-restart:
  service.running:
    - name: {{ prom.service }}
    - watch:
      - file: monitoring-prometheus-defaults
    - require:
      - service: monitoring-prometheus-service
