{
  "targets": [
    { "target_name": "malloc_tune", "sources": ["malloc-tune.c"] },
    { "target_name": "sendv", "sources": ["sendv.c"] }
  ]
}
