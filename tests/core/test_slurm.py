"""The single-node Slurm from `scripts/slurm.sh up` accepts a batch job and runs it to completion."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.slurm


@pytest.mark.timeout(120)
def test_sbatch_runs_a_two_task_job(slurm_cluster, tmp_path):
    out = tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH --job-name=mathforge-test\n#SBATCH --ntasks=2\n#SBATCH --cpus-per-task=1\n"
        "srun bash -c 'echo task=$SLURM_PROCID of $SLURM_NTASKS job=$SLURM_JOB_ID'\n"
    )
    proc = subprocess.run(
        ["sbatch", "--wait", f"--output={out}", str(script)], capture_output=True, text=True, timeout=110
    )
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.split()[-1]
    lines = sorted(out.read_text().split("\n")[:-1])
    assert lines == [f"task=0 of 2 job={job_id}", f"task=1 of 2 job={job_id}"]
    state = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    assert "JobState=COMPLETED" in state and "ExitCode=0:0" in state
