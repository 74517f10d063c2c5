# The collectd agent: plugins from pillar through one generic renderer (plus the database and
# broker metrics on nodes carrying those roles), write_graphite to the carbon host of the pillar.
# The file is 0600 and its diff is hidden when it holds a password. Every plugin must exist in
# /usr/lib/collectd (the renderer checks; Debian 12's `collectd -t` never opens the file).
{%- set packages = salt['monitoring.collectd_packages']() %}
monitoring-collectd-package:
  pkg.installed:
    - name: collectd-core

{%- if packages %}

# The libraries the configured plugins link against (collectd-core only suggests them).
monitoring-collectd-plugin-libraries:
  pkg.installed:
    - pkgs: {{ packages | json }}
    - require_in:
      - file: monitoring-collectd-conf
{%- endif %}

monitoring-collectd-conf:
  file.managed:
    - name: /etc/collectd/collectd.conf
    - contents: {{ salt['monitoring.collectd_conf'](reveal=True) | yaml_encode }}
    - mode: '0600'
    - makedirs: True
    - show_changes: {{ not salt['monitoring.collectd_has_secret']() }}
    - require:
      - pkg: monitoring-collectd-package

monitoring-collectd-service:
  service.running:
    - name: collectd
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-collectd-conf
