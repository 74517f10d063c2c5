# The monitoring role: a collectd agent on every node, and the Graphite carbon server on the
# node whose pillar says monitoring:carbon:server: true, with Graphite's web application and its
# dashboards there (monitoring:web); with monitoring:backend both, Prometheus beside it (a node
# exporter everywhere, the server where monitoring:prometheus:server: true). Rendering lives in
# the monitoring execution module (one generic renderer for any collectd plugin); these states
# only install, write and start.
{#- monitoring:backend and monitoring:prometheus checked whole before anything runs. #}
{%- set prom = salt['monitoring.prometheus_config']() %}
include:
{%- if prom.graphite %}
  - monitoring.agent
{%- if salt['pillar.get']('monitoring:carbon:server', False) %}
  - monitoring.server
{%- endif %}
{%- if salt['monitoring.web_config']()['enabled'] %}
  - monitoring.web
{%- endif %}
{%- endif %}
{%- if prom.prometheus %}
  - monitoring.exporter
{%- endif %}
{%- if prom.prometheus and prom.server %}
  - monitoring.prometheus
{%- endif %}
  - monitoring.prometheus_off
{%- if salt['pillar.get']('monitoring:reactions:enabled', False) %}
  - monitoring.reactor
{%- endif %}
