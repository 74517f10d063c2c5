# The monitoring role: a collectd agent on every node, and the Graphite carbon server on the
# node whose pillar says monitoring:carbon:server: true, with Graphite's web application and its
# dashboards there (monitoring:web). Rendering lives in the monitoring
# execution module (one generic renderer for any collectd plugin); these states only install,
# write and start.
include:
  - monitoring.agent
{%- if salt['pillar.get']('monitoring:carbon:server', False) %}
  - monitoring.server
{%- endif %}
{%- if salt['monitoring.web_config']()['enabled'] %}
  - monitoring.web
{%- endif %}
{%- if salt['pillar.get']('monitoring:reactions:enabled', False) %}
  - monitoring.reactor
{%- endif %}
