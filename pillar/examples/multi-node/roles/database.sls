# db1: the database node, and the monitoring server of this small layout. Its servers listen on
# the node's own address (the grain bin/cluster minion sets), never on every address. DevStack's
# database account exists for the DevStack nodes' addresses only, from the mine (database:devstack:
# nodes left out); their DATABASE_HOST is this node's address, from the mine too.
{%- set address = grains.get('devstack_salt_address', '127.0.0.1') %}
{%- set watched = ['carbon-cache', 'mariadb'] %}
roles: [database, monitoring]
database:
  server:
    bind_address: {{ address }}
monitoring:
  carbon:
    server: true
    address: {{ address }}
  reactions:
    enabled: true                   # the master's reactor restarts these here when they die
    services: {{ watched | json }}
beacons:
  enabled: true
  service:
    - services:
{%- for service in watched %}
        {{ service }}: {is_running_state: false, onchangeonly: false}
{%- endfor %}
    - interval: 5
