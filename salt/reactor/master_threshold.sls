{#- A master's reactor: a threshold crossed on the minion whose beacon fired; run the pillar's
    action there (monitoring.react_threshold). #}
react-threshold:
  local.monitoring.react_threshold:
    - tgt: {{ data['id'] | json }}
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
