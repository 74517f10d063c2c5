# db1: the database node, and the monitoring server of this small layout.
roles: [database, monitoring]
database:
  server:
    bind_address: 0.0.0.0           # reachable from the DevStack nodes
  devstack:
    nodes: [192.168.56.14]          # the DevStack nodes' addresses: the account exists for these only
monitoring:
  carbon:
    server: true
    address: 0.0.0.0
  reactions:
    enabled: true                   # the master's reactor restarts carbon-cache here
beacons:
  enabled: true
