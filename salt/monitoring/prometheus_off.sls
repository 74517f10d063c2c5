# What monitoring:backend and monitoring:prometheus:server no longer run here: the exporters and
# the server without prometheus in the backend, the server where this node is no longer
# monitoring:prometheus:server, the mysqld exporter where it no longer carries the database role,
# Alertmanager where no server or no masterless reactions are.
# Stopped (and not started at boot); packages, files and data stay, so switching back is one
# apply. Where they were never installed, there is no state at all.
{%- set prom = salt['monitoring.prometheus_config']() %}
{%- set off = [] if prom.prometheus and prom.server else ['prometheus'] %}
{%- set off = off + ([] if prom.prometheus else [prom.exporter.service, prom.process.service]) %}
{%- set off = off + ([] if prom.alertmanager else ['prometheus-alertmanager']) %}
{%- set off = off + ([] if prom.mysqld else ['prometheus-mysqld-exporter']) %}
{#- Only services this node has: Salt's test=True reports a missing one as a change to come. #}
{%- for service in off if salt['service.available'](service) %}
monitoring-{{ service }}-off:
  service.dead:
    - name: {{ service }}
{%- if salt['topology.systemd']() %}
    - enable: False
{%- endif %}
{%- endfor %}
{%- if not prom.salt_runs.enabled %}

# Salt's runs no longer written for a node exporter (monitoring:salt_runs, the backend).
monitoring-salt-runs-textfile-off:
  file.absent:
    - name: {{ prom.salt_runs.config_file }}
{%- endif %}
