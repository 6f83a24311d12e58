"""Gunicorn entry points for the test bed's OpenStack APIs.

The services' WSGI modules parse ``sys.argv`` with oslo.config, so under gunicorn
they see gunicorn's own arguments and exit 2 ("unrecognized arguments"). Each
factory here resets ``sys.argv`` before importing its service; configuration
comes from the OS_*_CONFIG_* variables that up.sh sets (Cinder has none, so its
config file goes through argv from REALCLOUD_CINDER_CONF, and Manila's from
REALCLOUD_MANILA_CONF; Designate reads api-paste.ini and designate.conf from
OS_DESIGNATE_CONFIG_DIR, and runs from its own venv; Barbican reads
~/.barbican/barbican.conf, and its own entry point hard-codes the paste file's path
under /etc, so its paste file comes from REALCLOUD_BARBICAN_PASTE).

Used as ``gunicorn 'rc_wsgi:keystone()'`` with ``--pythonpath`` this directory.
"""

import os
import sys


def _reset_argv(*extra):
    sys.argv = [sys.argv[0], *extra]


def keystone():
    _reset_argv()
    from keystone.server.wsgi import initialize_public_application

    return initialize_public_application()


def placement():
    _reset_argv()
    from placement.wsgi.api import application

    return application


def glance():
    _reset_argv()
    from glance.wsgi.api import application

    return application


def neutron():
    _reset_argv()
    from neutron.wsgi.api import application

    return application


def cinder():
    _reset_argv("--config-file", os.environ["REALCLOUD_CINDER_CONF"])
    from cinder.wsgi.api import application

    return application


def manila():
    _reset_argv("--config-file", os.environ["REALCLOUD_MANILA_CONF"])
    from manila.wsgi.api import application

    return application


def designate():
    _reset_argv()
    from designate.wsgi.api import application

    return application


def nova():
    _reset_argv()
    from nova.wsgi.osapi_compute import application

    return application


def barbican():
    _reset_argv()
    from paste import deploy

    return deploy.loadapp("config:" + os.environ["REALCLOUD_BARBICAN_PASTE"])
