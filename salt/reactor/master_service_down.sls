{#- A master's reactor: a watched service is down on the minion whose beacon fired; start it
    there, through the same brakes as the masterless reactor (monitoring.react_service). #}
react-service-down:
  local.monitoring.react_service:
    - tgt: {{ data['id'] | json }}
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
