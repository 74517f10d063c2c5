# Reactions: beacons from pillar (service beacon on the managed daemons, metric_threshold on
# measured values) whose events reach monitoring.react_service / react_threshold.
{%- if salt['config.get']('master_type') == 'disable' %}
# Masterless (bin/configure): a second, masterless salt-minion daemon runs the beacons and the
# reactor engine configured by bin/configure (salt/reactor/beacons.sls).
{%- set config_file = salt['config.get']('conf_file') %}
{%- set bin_dir = salt['file.dirname'](salt['grains.get']('pythonexecutable')) %}

{%- set systemd = salt['topology.systemd']() %}
{#- Where Alertmanager runs here (salt/monitoring/prometheus.sls): the webhook the daemon serves. #}
{%- set alertmanager = salt['monitoring.prometheus_config']().alertmanager %}
{%- set unit = 'service' if systemd else 'init' %}

# A systemd unit where systemd runs (enabled at boot), an init.d script elsewhere (bin/configure).
monitoring-reactor-unit:
  file.managed:
    - name: {{ '/etc/systemd/system/devstack-salt-minion.service' if systemd else '/etc/init.d/devstack-salt-minion' }}
    - source: salt://monitoring/files/devstack-salt-minion.{{ unit }}
    - template: jinja
    - mode: '{{ '0644' if systemd else '0755' }}'
    - context:
        bin_dir: {{ bin_dir }}
        config_dir: {{ salt['file.dirname'](config_file) }}
        pidfile: {{ salt['config.get']('pidfile') }}

# A minion with master_type: disable never compiles pillar, so the beacons from pillar reach
# the daemon through its own config (minion.d), beside the reaction settings and where its
# alert_hook engine serves Alertmanager's webhook (the thresholds Prometheus measures then come
# from its alerts, not the beacon); a change restarts it (the reactions' caller client also
# caches pillar).
monitoring-reactor-settings:
  file.managed:
    - name: {{ salt['file.dirname'](config_file) }}/minion.d/beacons.conf
    - contents: {{ ({'beacons': alertmanager.beacons if alertmanager else salt['pillar.get']('beacons', {}), 'devstack_salt_reactions': {'reactions': salt['pillar.get']('monitoring:reactions', {}), 'thresholds': salt['pillar.get']('monitoring:thresholds', {}), 'alert_hook': alertmanager.hook if alertmanager else None}} | json | string) | yaml_dquote }}
    - mode: '0600'
    - makedirs: True

monitoring-reactor-service:
  service.running:
    - name: devstack-salt-minion
{%- if systemd %}
    - enable: True
{%- endif %}
    - watch:
      - file: monitoring-reactor-unit
      - file: monitoring-reactor-settings
{%- else %}
# With a master: this minion's own daemon runs the pillar's beacons and sends their events to the
# master, whose reactor (bin/configure --master: salt/reactor/master_*.sls) runs the reactions
# here. No masterless daemon: it would be a second minion with this id (and the same pidfile).
# A state run does not refresh the daemon's in-memory pillar; this reloads it when its beacons
# differ from the pillar's.
monitoring-reactor-beacons:
  monitoring.beacons_loaded:
    - name: pillar beacons
{%- endif %}
