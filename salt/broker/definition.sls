# Virtual hosts, users, permissions, policies and plugins of the broker pillar. Applied alone
# (state.apply broker.definition) it never starts the broker: with the broker down it fails,
# saying so, and changes nothing.
include:
  - broker.pillar

broker-definition:
  message_broker.defined:
    - pillar_key: broker
    - require:
      - message_broker: broker-pillar
