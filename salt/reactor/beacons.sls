{#- Masterless dispatch. Salt 3008's minion sends beacon events to a master only (minion.py
    handles its internal __beacons_return event only when connected), so the local reactor
    listens to __beacons_return itself and dispatches each beacon of the batch here, to the same
    reactions a master's reactor reaches through master_service_down.sls and master_threshold.sls. #}
{%- for beacon in data.get('beacons', []) %}
{%- if '/service/' in beacon.tag %}
react-service-{{ loop.index }}:
  caller.monitoring.react_service:
    - args:
      - tag: {{ beacon.tag | json }}
      - data: {{ beacon.data | json }}
{%- elif '/metric_threshold/' in beacon.tag %}
react-threshold-{{ loop.index }}:
  caller.monitoring.react_threshold:
    - args:
      - tag: {{ beacon.tag | json }}
      - data: {{ beacon.data | json }}
{%- endif %}
{%- endfor %}
