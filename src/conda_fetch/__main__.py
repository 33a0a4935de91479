from conda_fetch.cli import run

run()
