# Every node: no carbon server and no reactions unless its role file says so; collectd sends to
# the node carrying the monitoring role (from the mine: carbon_host is left unset). A minion of
# a master runs the pillar's beacons itself: they are off here, on where reactions are.
monitoring:
  carbon:
    server: false
  collectd:
    carbon_host: null
  reactions:
    enabled: false
beacons:
  enabled: false
