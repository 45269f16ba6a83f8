"""The application layer: the use cases the CLI and the window both call, one module each.

    scan.scan_folder(folder) -> ScanResult
    sort.sort_photos(folder, criteria, model, settings=, compute=, cache_dir=, feedback=) -> SortResult
    keywords.suggest_keywords(criterion, model, template=, compute=) -> list[str]
    export.export_result(result, out, mode=, dry_run=, feedback=) -> ExportReport   (folders, manifests,
        saved heads, all from the SortResult as the user edited it; or keywords, modes TAG_MODES);
        export.preview(result, out, mode=)
    assign.assign_photos(folder, result_dir, model=None, compute=, mode=, dry_run=, feedback=)
    learn.learn_export(out, cache_dir, resort=) (corrections made in a file manager); corrections.apply_corrections /
        undo_corrections (photos moved in the window)
    undo.undo_move(out) -> int; undo.undo_export(out) -> (restored, untagged)   (move and tags exports)
    inspect.inspect_photo(...), models.check_files/repair/list_models/add_model/remove_model/default_model
    clusters.remove_cluster(result, criterion, cluster); values.make_value / merge_cluster / undo_merge
        (named values: a cluster the sort found made a value, or merged into one)
    pull.plan_pull/run_pull, doctor.report/window_problem, demo.run_demo, bench.run_benchmark/write_report

The faces import nothing else of the package (tests/test_architecture.py): options.* names the choices and
defaults they list (light, for `--help`), view.* shows photos (decode, thumbnails), interrupts.* is Ctrl+C.

result.SortResult is the one result (per criterion: the computation and the user's edits);
model.ModelFiles names a model pair; settings are sort.MethodSettings (how ESMC reads and clusters) and
sort.ComputeRequest (what the user asked of the machine, planned once per use case by the engine's model
session, esmc_desktop/engine/session.py); feedback.Feedback carries progress, notes and cancel;
checks.* run before any long work. Every mistake is an esmc_desktop.errors.EsmcError.
"""
