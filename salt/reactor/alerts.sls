{#- Masterless: an alert from Prometheus that names a declared reaction (the alert_hook engine
    fires these for Alertmanager's webhook only); the same reactions as the Graphite beacon's
    events (salt/reactor/beacons.sls), through the same brakes. #}
{%- if tag == 'devstack_salt/alert/service' %}
react-service-alert:
  caller.monitoring.react_service:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
{%- elif tag == 'devstack_salt/alert/threshold' %}
react-threshold-alert:
  caller.monitoring.react_threshold:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
{%- endif %}
