# Graphite's web application on the carbon server: graphite-web from the distribution, served
# by gunicorn on the pillar's address and port only, reading carbon's whisper files and its
# cache; its database initialised once; an admin account; and the dashboards generated from the
# nodes and roles carbon holds metrics of (monitoring.dashboards). monitoring.web_config checks
# the whole monitoring:web pillar (and that nothing else listens on its port) while this file
# renders, so a bad pillar changes nothing.
{%- set web = salt['monitoring.web_config']() %}
{%- set systemd = salt['topology.systemd']() %}
{%- set unit = 'service' if systemd else 'init' %}

monitoring-web-packages:
  pkg.installed:
    - pkgs: [graphite-web, gunicorn, python3-whitenoise]

monitoring-web-settings:
  file.managed:
    - name: /etc/graphite/local_settings.py
    - contents: {{ web.settings | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-web-packages

monitoring-web-wsgi:
  file.managed:
    - name: /etc/graphite/devstack_salt_graphite.py
    - contents: {{ web.wsgi | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-web-packages

monitoring-web-secret-key:
  monitoring.web_secret_key:
    - name: /etc/graphite/secret_key
    - require:
      - pkg: monitoring-web-packages

# Django's database: the migrations graphite-web lacks (its dashboards and accounts tables) and
# the admin account, checked and made in one graphite-manage run; the file the web user's only
# (it holds the admin's password hash and the sessions).
monitoring-web-database:
  monitoring.web_database:
    - name: /var/lib/graphite/graphite.db
    - require:
      - file: monitoring-web-settings
      - monitoring: monitoring-web-secret-key

# Debian's /etc/logrotate.d/graphite-web moves these logs and creates new ones without telling
# the programs that keep them open: this drop-in, read before it, copies and truncates them.
monitoring-web-logrotate:
  file.managed:
    - name: {{ web.logrotate_file }}
    - contents: {{ web.logrotate | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-web-packages

# A systemd unit where systemd runs (enabled at boot), an init.d script elsewhere.
monitoring-web-unit:
  file.managed:
    - name: {{ '/etc/systemd/system/' ~ web.service ~ '.service' if systemd else '/etc/init.d/' ~ web.service }}
    - source: salt://monitoring/files/graphite-web.{{ unit }}
    - template: jinja
    - mode: '{{ '0644' if systemd else '0755' }}'
    - context:
        service: {{ web.service }}
        user: {{ web.user }}
        program: {{ web.argv[0] }}
        arguments: {{ web.argv[1:] | map('quote') | join(' ') | yaml_dquote }}
        pid_file: {{ web.pid_file }}
        url: {{ web.url }}
        host: {{ web.host }}
        port: {{ web.port }}

monitoring-web-service:
  service.running:
    - name: {{ web.service }}
{%- if systemd %}
    - enable: True
{%- endif %}
    - require:
      - monitoring: monitoring-web-database
    # A package installed or upgraded by this run (graphite-web, gunicorn, WhiteNoise) is code
    # the running workers loaded before: restart them.
    - watch:
      - pkg: monitoring-web-packages
      - file: monitoring-web-settings
      - file: monitoring-web-wsgi
      - file: monitoring-web-unit
      - monitoring: monitoring-web-secret-key

monitoring-web-dashboards:
  monitoring.dashboards:
    - name: graphite-web dashboards
    - require:
      - service: monitoring-web-service
      - monitoring: monitoring-web-database
