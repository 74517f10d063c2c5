# Every node: no carbon server and no reactions unless its role file says so; collectd sends to
# the node carrying the monitoring role (from the mine: carbon_host is left unset). A minion of
# a master runs the pillar's beacons itself: they are off here, on where reactions are.
monitoring:
  backend: graphite               # Prometheus across machines: not yet wired here (issue 24)
  carbon:
    server: false
  collectd:
    carbon_host: null
  reactions:
    enabled: false
beacons:
  enabled: false
