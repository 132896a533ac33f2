import subprocess

from aisc.executors.gpus import catalogue_code, detect_gpus

SAMPLE = "0, NVIDIA H800, 81559, GPU-1111\n1, NVIDIA H800, 81559, GPU-2222\n"


def fake(stdout: str = SAMPLE, code: int = 0):
    def run(argv):
        assert argv[0] == "nvidia-smi"
        return subprocess.CompletedProcess(argv, code, stdout=stdout, stderr="")

    return run


def test_gpus_are_read_from_nvidia_smi():
    gpus = detect_gpus(fake())
    assert [(g.index, g.name, g.memory_mib, g.uuid) for g in gpus] == [
        (0, "NVIDIA H800", 81559, "GPU-1111"),
        (1, "NVIDIA H800", 81559, "GPU-2222"),
    ]


def test_no_driver_means_no_gpus():
    def missing(argv):
        raise FileNotFoundError(argv[0])

    assert detect_gpus(missing) == []
    assert detect_gpus(fake(code=9)) == []
    assert detect_gpus(fake(stdout="garbage\n")) == []


def test_device_names_map_to_the_catalogue():
    known = ["H800-SXM5-80GB", "L40S-48GB"]
    assert catalogue_code("NVIDIA H800", known) == "H800-SXM5-80GB"
    assert catalogue_code("NVIDIA L40S", known) == "L40S-48GB"
    assert catalogue_code("NVIDIA A100-SXM4-80GB", known) is None


def test_detect_local_on_a_machine_without_gpus_says_so(cli, uow):
    import shutil

    if shutil.which("nvidia-smi"):  # a machine with GPUs records them instead
        from aisc.cluster.schemas import PartitionIn
        from aisc.cluster.service import ensure_catalogue, upsert_partition

        with uow() as ctx:
            ensure_catalogue(ctx)
            upsert_partition(ctx, data=PartitionIn(name="local", max_walltime_hours=24))
        assert cli("cluster", "detect-local", "--partition", "local", "--json").exit_code == 0
        return
    assert (
        "no NVIDIA GPUs found"
        in cli("cluster", "detect-local", "--partition", "training", expect=3).output
    )
