# mathforge: every command a user runs. `just --list` shows them; stage recipes take a TOML config.
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := justfile_directory() / ".venv/bin"

# list the recipes
default:
    @just --list

# create .venv and install mathforge (EXTRAS: cpu,dev on a laptop/CI; gpu,dev on a GPU machine)
setup EXTRAS="cpu,dev":
    bash scripts/bootstrap.sh {{EXTRAS}}

# run the whole pipeline on tiny generated data (crawl -> corpus -> pretrain -> eval)
demo OUT="runs/demo": setup
    {{bin}}/mathforge demo --out {{OUT}}

# run the test suite; as root it first starts the local Slurm so the Slurm tests run too
test *ARGS: setup
    if [[ $EUID -eq 0 ]]; then bash scripts/slurm.sh up; else echo "not root: Slurm tests will be skipped"; fi
    {{bin}}/pytest {{ARGS}}

# static checks
lint: setup
    {{bin}}/ruff check mathforge corpus training evaluation tests benchmarks

# performance scripts: side-by-side tables against the reference systems
bench: setup
    for script in benchmarks/bench_*.py; do {{bin}}/python "$script"; done

# start / stop a real single-node Slurm cluster (munge + slurmctld + slurmd) on this machine
slurm-up:
    bash scripts/slurm.sh up

slurm-down:
    bash scripts/slurm.sh down
