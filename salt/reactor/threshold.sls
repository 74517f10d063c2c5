{#- A measured value crossed a pillar threshold (metric_threshold beacon). Run the action the
    pillar names for it, with the same brakes as service restarts. #}
react-threshold:
  caller.monitoring.react_threshold:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
