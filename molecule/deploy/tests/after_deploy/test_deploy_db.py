"""db1 after converge: v2's migration ran exactly once (a second run would fail on the primary key)."""
testinfra_hosts = ['deploy-db1']

PSQL = "PGPASSWORD=lab-postgres-pw psql -h 127.0.0.1 -U postgres -d appdb -XAtc \"%s\""


def test_migration_recorded_once(host):
    assert host.check_output(PSQL % 'SELECT version FROM schema_migrations') == '002_items_sku'


def test_migration_added_the_sku_column(host):
    assert host.check_output(PSQL % 'SELECT count(sku) FROM items') == '1000'
