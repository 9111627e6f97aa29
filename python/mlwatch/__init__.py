"""mlwatch: daily drift, data quality and model performance of a production ML model, in your own warehouse."""
