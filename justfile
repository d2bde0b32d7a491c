# mathforge: every command a user runs. `just --list` shows them; stage recipes take a TOML config.
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := justfile_directory() / ".venv/bin"

# list the recipes
default:
    @just --list

# create .venv and install mathforge (EXTRAS: cpu,dev on a laptop/CI; gpu,dev on a GPU machine)
setup EXTRAS="cpu,dev":
    bash scripts/bootstrap.sh {{EXTRAS}}

# the whole recipe on tiny generated data: crawl -> recall rounds -> pretrain -> SFT -> reward model -> GRPO,
# evaluated after each model stage; OUT/report/report.md at the end. A rerun resumes. ARGS: --config, overrides
demo OUT="runs/demo" *ARGS: setup
    {{bin}}/mathforge demo --out {{OUT}} {{ARGS}}

# the same on the local single-node Slurm: corpus stages via datatrove's Slurm executor, the rest as sbatch jobs
demo-slurm OUT="runs/demo-slurm" *ARGS: setup
    bash scripts/slurm.sh up
    {{bin}}/mathforge demo --out {{OUT}} --executor slurm {{ARGS}}

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

# --- corpus (stage 1) ---

# write a seeded sample crawl (WARC.gz shards, seed positives, ground truth) as the config describes
corpus-sample CONFIG="configs/tiny/corpus.toml" *OVERRIDES:
    {{bin}}/mathforge corpus make-sample {{CONFIG}} {{OVERRIDES}}

# run the corpus pipeline with local workers
corpus CONFIG="configs/tiny/corpus.toml" *OVERRIDES:
    {{bin}}/mathforge corpus run {{CONFIG}} {{OVERRIDES}}

# run the corpus pipeline through datatrove's Slurm executor
slurm-corpus CONFIG="configs/tiny/corpus.toml" *OVERRIDES:
    {{bin}}/mathforge corpus run {{CONFIG}} executor.kind=slurm {{OVERRIDES}}

# the paper's recall rounds (dedup, fastText rounds, domain statistics, URL annotation, seed growth) locally
recall CONFIG="configs/tiny/recall.toml" *OVERRIDES:
    {{bin}}/mathforge corpus recall {{CONFIG}} {{OVERRIDES}}

# the recall rounds with every datatrove stage on Slurm (the paper config: configs/deepseekmath-7b/recall.toml)
slurm-recall CONFIG="configs/deepseekmath-7b/recall.toml" *OVERRIDES:
    {{bin}}/mathforge corpus recall {{CONFIG}} executor.kind=slurm {{OVERRIDES}}

# --- evaluation ---

# evaluate a HF checkpoint: just eval configs/tiny/eval.toml model=DIR data.root=DIR
eval CONFIG="configs/tiny/eval.toml" *OVERRIDES:
    {{bin}}/mathforge eval run {{CONFIG}} {{OVERRIDES}}

# a tiny random Llama and a tiny generated benchmark, then the tiny eval on them
eval-tiny DIR="runs/eval-tiny":
    {{bin}}/mathforge eval tiny-model {{DIR}}/model
    {{bin}}/mathforge eval tiny-bench {{DIR}}/benchmarks
    {{bin}}/mathforge eval run configs/tiny/eval.toml model={{DIR}}/model data.root={{DIR}}/benchmarks run_dir={{DIR}}

# --- training (megatron-core) ---
# Recipes pass CONFIG and key.sub=value overrides through "$@", so an override may contain spaces
# (e.g. 'data.sources=[{name = "math", paths = ["corpus/"]}]').

# train a byte-level BPE tokenizer on the config's data sources (writes data.tokenizer_dir)
[positional-arguments]
train-tokenizer CONFIG *OVERRIDES:
    {{bin}}/mathforge train tokenizer "$@"

# pretrain locally under torchrun: NPROC=2 just pretrain CONFIG parallel.tensor=2 (default 1 process)
[positional-arguments]
pretrain CONFIG *OVERRIDES:
    {{bin}}/python -m torch.distributed.run --standalone --nproc_per_node "${NPROC:-1}" -m training.cli pretrain "$@"

# pretrain on Slurm over NODES nodes (sbatch: srun + torchrun rendezvous); more sbatch flags in $SBATCH_ARGS
[positional-arguments]
slurm-pretrain CONFIG NODES="1" *OVERRIDES:
    sbatch --nodes "$2" ${SBATCH_ARGS:-} training/launch/pretrain.sbatch "$1" "${@:3}"

# write a Hugging Face checkpoint (+ tokenizer) from the run's latest training checkpoint
[positional-arguments]
train-export CONFIG *OVERRIDES:
    {{bin}}/mathforge train export "$@"

# build the SFT data of a config's [build] table: convert, decontaminate, run programs in the sandbox, grade
[positional-arguments]
sft-data CONFIG="configs/tiny/sft.toml" *OVERRIDES:
    {{bin}}/mathforge train sft-data "$@"

# supervised fine-tuning locally under torchrun: NPROC=2 just sft CONFIG parallel.tensor=2 (default 1 process)
[positional-arguments]
sft CONFIG="configs/tiny/sft.toml" *OVERRIDES:
    {{bin}}/python -m torch.distributed.run --standalone --nproc_per_node "${NPROC:-1}" -m training.cli sft "$@"

# SFT on Slurm over NODES nodes (training/launch/sft.sbatch); more sbatch flags in $SBATCH_ARGS
[positional-arguments]
slurm-sft CONFIG NODES="1" *OVERRIDES:
    sbatch --nodes "$2" ${SBATCH_ARGS:-} training/launch/sft.sbatch "$1" "${@:3}"

# our training step vs a bare megatron-core loop on the tiny model (CPU); GPU MFU: benchmarks/bench_train_gpu.py
bench-train:
    {{bin}}/python benchmarks/bench_train.py

# GRPO from an SFT/HF export (train.init_from_hf) with vLLM rollouts: NPROC=2 just grpo CONFIG parallel.tensor=2
[positional-arguments]
grpo CONFIG *OVERRIDES:
    {{bin}}/python -m torch.distributed.run --standalone --nproc_per_node "${NPROC:-1}" -m training.cli grpo "$@"

# GRPO on Slurm over NODES nodes (sbatch: srun + torchrun rendezvous); more sbatch flags in $SBATCH_ARGS
[positional-arguments]
slurm-grpo CONFIG NODES="1" *OVERRIDES:
    sbatch --nodes "$2" ${SBATCH_ARGS:-} training/launch/grpo.sbatch "$1" "${@:3}"

# one GRPO step broken down, side by side with TRL GRPOTrainer; the CPU synthetic-task experiment (before/after)
bench-grpo:
    {{bin}}/python benchmarks/bench_grpo.py

# --- reward models and iterative RL ---

# train an outcome or process reward model: NPROC=2 just rm CONFIG parallel.tensor=2 (default 1 process)
[positional-arguments]
rm CONFIG="configs/tiny/rm.toml" *OVERRIDES:
    {{bin}}/python -m torch.distributed.run --standalone --nproc_per_node "${NPROC:-1}" -m training.cli rm "$@"

# Math-Shepherd step labels: N completions per step prefix (vLLM), hard or soft labels
[positional-arguments]
prm-label CONFIG="configs/tiny/prm_label.toml" *OVERRIDES:
    {{bin}}/mathforge train prm-label "$@"

# iterative RL (one process): rounds of GRPO -> new samples -> reward model retrained with replay; resumable
[positional-arguments]
grpo-iterative CONFIG="configs/tiny/grpo_iterative.toml" *OVERRIDES:
    {{bin}}/mathforge train grpo-iterative "$@"

# RM training step vs transformers, Math-Shepherd labelling vLLM vs transformers (--quality: AUC, PRM location)
bench-rm *ARGS:
    {{bin}}/python benchmarks/bench_rm.py {{ARGS}}
