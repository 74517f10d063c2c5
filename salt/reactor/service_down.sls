{#- A watched service is not running (service beacon, is_running_state: False). Start it again;
    monitoring.react_service skips while a state run is under way and keeps a minimum interval. #}
react-service-down:
  caller.monitoring.react_service:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
