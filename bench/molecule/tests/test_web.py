"""The checks of tests/web.yaml, written for testinfra (run by `molecule verify`)."""

HTTP_GET = (
    "python3 -c \"import urllib.request as u, sys; "
    "sys.stdout.write(u.urlopen('http://localhost/').read().decode())\""
)


def test_nginx_installed(host):
    assert host.package("nginx").is_installed


def test_hello_page(host):
    f = host.file("/var/www/html/index.html")
    assert "Hello world" in f.content_string
    assert f.mode == 0o644
    assert f.user == "root"


def test_nginx_runs(host):
    assert any(p.user == "root" for p in host.process.filter(comm="nginx"))


def test_nginx_listens_on_80(host):
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_old_port_8080_is_closed(host):
    assert not host.socket("tcp://0.0.0.0:8080").is_listening


def test_page_is_served(host):
    assert "Hello world" in host.check_output(HTTP_GET)


def test_config_is_valid(host):
    cmd = host.run("nginx -t")
    assert cmd.rc == 0
    assert "syntax is ok" in cmd.stderr


def test_www_data_exists(host):
    assert host.user("www-data").shell == "/usr/sbin/nologin"
