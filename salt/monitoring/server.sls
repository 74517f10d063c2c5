# Graphite carbon (carbon-cache) from the distribution, bound to the pillar's address and ports,
# with storage schemas from pillar and a new-metric creation rate high enough for new hosts.
monitoring-carbon-package:
  pkg.installed:
    - name: graphite-carbon

# Debian ships CARBON_CACHE_ENABLED=false: its init script then starts nothing and still exits 0.
monitoring-carbon-enabled:
  file.managed:
    - name: /etc/default/graphite-carbon
    - contents: |
        # Written by Salt (salt/monitoring/server.sls).
        CARBON_CACHE_ENABLED=true
    - require:
      - pkg: monitoring-carbon-package

monitoring-carbon-conf:
  file.managed:
    - name: /etc/carbon/carbon.conf
    - contents: {{ salt['monitoring.carbon_conf']() | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-carbon-package

monitoring-carbon-schemas:
  file.managed:
    - name: /etc/carbon/storage-schemas.conf
    - contents: {{ salt['monitoring.storage_schemas']() | yaml_encode }}
    - mode: '0644'
    - require:
      - pkg: monitoring-carbon-package

monitoring-carbon-service:
  service.running:
    - name: carbon-cache
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - watch:
      - file: monitoring-carbon-enabled
      - file: monitoring-carbon-conf
      - file: monitoring-carbon-schemas
