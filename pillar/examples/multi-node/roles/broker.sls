# mq1: the message broker node, listening on the node's own address (the grain bin/cluster
# minion sets); DevStack nodes find it in the mine (RABBIT_HOST).
roles: [broker]
broker:
  address: {{ grains.get('devstack_salt_address', '127.0.0.1') }}
