# mq1: the message broker node.
roles: [broker]
broker:
  address: 0.0.0.0
