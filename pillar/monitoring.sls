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
  salt_runs:
    enabled: true
    prefix: salt
