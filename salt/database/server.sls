# MariaDB from the distribution, its [mysqld] options from database:server, running.
include:
  - database.pillar

database-server-package:
  pkg.installed:
    - name: mariadb-server
    - require:
      - database_server: database-pillar

database-server-config:
  database_server.config:
    - name: /etc/mysql/mariadb.conf.d/99-salt.cnf
    - pillar_key: database
    - require:
      - pkg: database-server-package

# Started through systemd where it runs, through the init.d script elsewhere (bin/configure);
# restarted when the options change.
database-server-service:
  service.running:
    - name: mariadb
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - require:
      - pkg: database-server-package
    - watch:
      - database_server: database-server-config
