"""The multi-front-end benchmark (bench/bench_cluster.py): prefork Odoo front-ends, HAProxy, Locust."""
