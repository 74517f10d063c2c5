{#- The daemons the reactor restarts, and the thresholds that trigger actions: defined once here,
    used both by the monitoring:reactions/thresholds settings and by the beacons below. #}
{%- set watched = ['carbon-cache'] %}
{%- set thresholds = {
      'root_disk_full': {'source': 'disk:/', 'above': 95, 'rearm_below': 90,
                         'action': {'function': 'monitoring.alert', 'args': ['root file system above 95% full']}},
      'state_run_failed': {'source': 'carbon:salt.' ~ (grains['id'] | regex_replace('[^A-Za-z0-9_-]', '_')) ~ '.state_apply.failed',
                           'above': 0.5, 'rearm_below': 0.5,
                           'action': {'function': 'monitoring.alert', 'args': ['a state run on this node failed']}},
      'selftest': {'source': 'carbon:devstack_salt.' ~ (grains['id'] | regex_replace('[^A-Za-z0-9_-]', '_')) ~ '.selftest',
                   'above': 0.5, 'rearm_below': 0.5,
                   'action': {'function': 'monitoring.alert', 'args': ['self-test alert (devstack_salt.<id>.selftest above 0.5)']}},
    } %}
# The monitoring role on this host: the carbon server and a collectd agent feeding it, and Salt's
# own state runs measured (the salt_run_metrics returner). README.md, "Monitoring role".
monitoring:
  carbon:
    server: true                  # run carbon-cache here
    address: 127.0.0.1
    port: 2003                    # plaintext line protocol
    pickle_port: 2004
    query_port: 7002
    max_creates_per_minute: 1000  # Debian's 50 drops most metrics of a new host
    schemas:                      # first match wins
      - {name: carbon, pattern: '^carbon\.', retentions: '60:90d'}
      - {name: salt, pattern: '^salt\.', retentions: '10s:1d,1m:30d,1h:1y'}
      - {name: default, pattern: '.*', retentions: '10s:1d,1m:30d,1h:1y'}
  collectd:
    carbon_host: 127.0.0.1
    carbon_port: 2003
    interval: 10
    max_read_interval: 30         # retry a failed read (a server down) at least this often
    prefix: collectd
    plugins:                      # any collectd plugin, with any options and blocks
      cpu: {}
      memory: {}
      load: {}
      processes:
        Process: [carbon-cache, collectd]
      df:
        MountPoint: /
        IgnoreSelected: false
      interface:
        Interface: lo
        IgnoreSelected: true
    role_metrics:                 # on nodes carrying these roles, their metrics too, read as:
      database: {user: collectd}  # database:users:collectd (mysql plugin, server's socket)
      broker: {user: collectd}    # broker:users:collectd (curl_json, management API)
  salt_runs:
    enabled: true
    prefix: salt
  web:                            # Graphite's web application (the carbon server only)
    address: 127.0.0.1            # listens here only
    port: 8013                    # not 80/8080 (DevStack's Apache and Swift proxy), 8000, 5000
    workers: 2                    # gunicorn processes
    admin_user: admin             # may save dashboards; its password and the Django secret key
                                  # are monitoring:web:admin_password and :secret_key (secrets.sls)
    dashboards:                   # generated on each apply: a node or role appears by itself
      hosts: true                 # host-<node>: load, CPU, memory, root disk, network
      database: true              # database: connections, commands, InnoDB (database role nodes)
      broker: true                # broker: queued messages, publish/deliver rates, connections
      salt_runs: true             # salt-runs: duration, states, changes, failures of each run
      time_range: -2hours
      refresh: 60                 # seconds
  backend: both                   # graphite (collectd, carbon, graphite-web), or both: Prometheus beside it
  prometheus:                     # with backend both: a node exporter here, and the server
    server: true                  # run the Prometheus server here (it scrapes every monitoring node)
    address: 127.0.0.1            # the server listens here only
    port: 9090
    scrape_interval: 15s
    retention: 15d                # how long the server keeps its samples
    node_exporter:
      address: 127.0.0.1          # unset: the node's mine address (where the server scrapes it)
      port: 9100
    mysqld_exporter:              # on database nodes, on the node exporter's address, as the
      port: 9104                  # unix_socket account database:users:prometheus
    process_exporter:             # on the node exporter's address: counts the processes of the
      port: 9256                  # watched services (reactions:services), for ServiceDown alerts
    alertmanager:                 # on the server's node, its reactions masterless: every firing
      port: 9093                  # alert to the webhook the reactions' daemon serves (hook_port),
      hook_port: 9097             # with hook_token (generated: .salt/pillar/secrets.sls)
  reactions:
    enabled: true                 # run the masterless minion daemon with beacons and the reactor
    interval: 5                   # beacon interval, seconds
    min_interval: 60              # at most one reaction per service or threshold per minute
    restart_within: 30            # the promise: a dead watched daemon runs again within 30 s
    services: {{ watched | json }}
  thresholds: {{ thresholds | json }}

beacons:
  service:
    - services:
{%- for service in watched %}
        {{ service }}: {is_running_state: false, onchangeonly: false}
{%- endfor %}
    - interval: 5
  metric_threshold:
    - thresholds:
{%- for name, spec in thresholds.items() %}
        {{ name }}: {{ {'source': spec.source, 'above': spec.above, 'rearm_below': spec.get('rearm_below', spec.above)} | json }}
{%- endfor %}
    - interval: 5
