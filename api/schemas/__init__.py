"""Request and response models: the API's edge, translated to domain calls in the routers."""
