"""Where a dataset's labels and splits come from: folders, a table, file names, or nowhere (unlabelled).

Each module does one step of a scan (see extract.scan, which runs them): records (the data types),
options (DataOptions), files (walking and sniffing), folders, table + table_labels, pattern,
splits (split names and the split rule), report (the notes for the user).
"""
