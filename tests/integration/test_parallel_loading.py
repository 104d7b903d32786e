"""Many files load in worker processes (loader.PARALLEL_FROM); the reports are the same as one by one."""

from __future__ import annotations

from support import CAPABILITIES

from naftiko_runtime.serving.loading import PARALLEL_FROM, load_file, load_files
from naftiko_runtime.settings import Settings


def test_parallel_reports_match_sequential_ones(tmp_path):
    text = CAPABILITIES[0].read_text()
    paths = []
    for k in range(PARALLEL_FROM + 6):
        path = tmp_path / f"copy{k}.yaml"
        path.write_text(text if k != 7 else text.replace("port: 8080", "port: eighty"))
        paths.append(path)
    (tmp_path / "broken.yaml").write_text("naftiko: [\n")
    paths.append(tmp_path / "broken.yaml")
    settings = Settings()
    reports = load_files(paths, settings, environ={"POLYTOMIC_API_KEY": "k"})
    assert [r.path for r in reports] == paths
    for index in (0, 7, len(paths) - 1):
        alone = load_file(paths[index], settings, environ={"POLYTOMIC_API_KEY": "k"})
        assert reports[index].diagnostics == alone.diagnostics
    assert reports[0].ok and not reports[7].ok and not reports[-1].ok
    assert any("port" in str(d) for d in reports[7].errors)
    assert reports[-1].errors[0].line == 2
