# The gate: every broker state requires this one, so an invalid pillar (each error named by its
# pillar path) changes nothing.
broker-pillar:
  message_broker.valid:
    - pillar_key: broker
