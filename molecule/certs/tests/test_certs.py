"""After converge (renewed), idempotence (not due) and side_effect (broken nginx, forced renewal)."""
testinfra_hosts = ['certs-app1']

SERVED = ("openssl s_client -connect 127.0.0.1:443 -servername app1.lab.test </dev/null 2>/dev/null"
          " | openssl x509 -noout -serial | cut -d= -f2")


def _served(host):
    return host.check_output(SERVED).strip()


def _on_disk(host):
    return host.check_output('openssl x509 -noout -serial -in /etc/ssl/app1/cert.pem | cut -d= -f2').strip()


def test_converge_replaced_the_expiring_certificate(host):
    assert host.file('/root/converge_serial').content_string.strip() != \
        host.file('/root/initial_serial').content_string.strip()


def test_new_certificate_issued_by_the_acme_server(host):
    issuer = host.check_output('openssl x509 -noout -issuer -in /etc/ssl/app1/cert.pem')
    assert 'Pebble' in issuer


def test_new_certificate_not_due(host):
    # pebble issues long-lived certificates: more than 30 days left
    assert host.run('openssl x509 -noout -checkend 2592000 -in /etc/ssl/app1/cert.pem').rc == 0


def test_private_key_mode_0600(host):
    assert host.file('/etc/ssl/app1/privkey.pem').mode == 0o600


def test_previous_certificate_kept_as_backup(host):
    assert host.file('/etc/ssl/app1/cert.pem.bak').exists


def test_broken_config_left_the_previous_certificate_served(host):
    converge_serial = host.file('/root/converge_serial').content_string.strip()
    assert _served(host) == converge_serial


def test_files_on_disk_restored_to_what_is_served(host):
    assert _on_disk(host) == _served(host)


def test_nginx_still_running_after_the_failed_reload(host):
    assert host.service('nginx').is_running
    assert host.run('nginx -t').rc != 0  # the broken file the side effect dropped is still there
