# Every node: no carbon server and no reactor daemon unless its role file says so; collectd
# sends to the node carrying the monitoring role (from the mine: carbon_host is left unset).
monitoring:
  carbon:
    server: false
  collectd:
    carbon_host: null
  reactions:
    enabled: false
