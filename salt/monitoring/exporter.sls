# Prometheus's node exporter on every node of a cloud whose monitoring:backend includes
# prometheus (Debian's prometheus-node-exporter), listening where monitoring:prometheus says: the
# node's mine address unless node_exporter:address names another. The textfile collector reads
# /var/lib/prometheus/node-exporter, where Salt's runs are written (monitoring:salt_runs). Beside
# it the process exporter counts the processes of the watched services
# (monitoring:reactions:services), for the ServiceDown alerts.
# The database account the mysqld exporter uses is the database role's
# (database:users:prometheus), made before this runs (salt/top.sls).
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
    - makedirs: True
    - require_in:
      - pkg: monitoring-node-exporter-package   # in place before the package starts it

monitoring-node-exporter-service:
  service.running:
    - name: {{ prom.exporter.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-node-exporter-defaults

monitoring-process-exporter-package:
  pkg.installed:
    - name: prometheus-process-exporter

monitoring-process-exporter-defaults:
  file.managed:
    - name: {{ prom.process.defaults_file }}
    - contents: {{ prom.process.defaults | yaml_encode }}
    - mode: '0644'
    - makedirs: True
    - require_in:
      - pkg: monitoring-process-exporter-package   # in place before the package starts it

monitoring-process-exporter-config:
  file.managed:
    - name: {{ prom.process.config_file }}
    - contents: {{ prom.process.config | yaml_encode }}
    - mode: '0644'
    - makedirs: True
    - require_in:
      - pkg: monitoring-process-exporter-package   # in place before the package starts it

monitoring-process-exporter-service:
  service.running:
    - name: {{ prom.process.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-process-exporter-defaults
      - file: monitoring-process-exporter-config
{%- if prom.salt_runs.enabled %}

# Salt's own runs for the textfile collector: the options of saltext-prometheus's returner in the
# project's minion.d, read by every salt-call after this one (salt_runs_config).
monitoring-salt-runs-textfile:
  file.managed:
    - name: {{ prom.salt_runs.config_file }}
    - contents: {{ prom.salt_runs.config | yaml_encode }}
    - mode: '0644'
    - makedirs: True
{%- endif %}
{%- if prom.mysqld %}

# On a database node: Debian's prometheus-mysqld-exporter, as the database account prometheus
# through the server's socket (unix_socket: no password anywhere), on the node exporter's address.
monitoring-mysqld-exporter-package:
  pkg.installed:
    - name: prometheus-mysqld-exporter

monitoring-mysqld-exporter-defaults:
  file.managed:
    - name: {{ prom.mysqld.defaults_file }}
    - contents: {{ prom.mysqld.defaults | yaml_encode }}
    # The package's postinst makes this file prometheus's and 0640 (it may hold a password; ours
    # holds none): the same mode here, and the owner left to the package, so no apply undoes it.
    - mode: '0640'
    - makedirs: True
    - require_in:
      - pkg: monitoring-mysqld-exporter-package   # in place before the package starts it

monitoring-mysqld-exporter-service:
  service.running:
    - name: {{ prom.mysqld.service }}
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-mysqld-exporter-defaults
{%- endif %}
