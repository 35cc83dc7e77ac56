"""db1 after the rollback with the database restore: the pre-deploy backup of v2 (before its migration)
replaced appdb, and the migrated database was kept aside."""
testinfra_hosts = ['deploy-db1']

PSQL = "PGPASSWORD=lab-postgres-pw psql -h 127.0.0.1 -U postgres -d %s -XAtc \"%s\""


def test_migration_column_gone(host):
    assert host.check_output(PSQL % ('appdb', "SELECT count(*) FROM information_schema.columns "
                                              "WHERE table_name = 'items' AND column_name = 'sku'")) == '0'


def test_migrations_table_gone(host):
    assert host.check_output(PSQL % ('appdb', "SELECT to_regclass('public.schema_migrations') IS NULL")) == 't'


def test_items_restored(host):
    assert host.check_output(PSQL % ('appdb', 'SELECT count(*) FROM items')) == '1000'


def test_migrated_database_kept_aside(host):
    kept = host.check_output(PSQL % ('postgres', "SELECT datname FROM pg_database WHERE datname LIKE "
                                                 "'appdb\\_pre\\_restore\\_%'"))
    assert len(kept.split()) == 1
