// Stands in for the form-data package, which axios loads for multipart bodies: the host service sends JSON only.
module.exports = class FormDataLeftOut {
  constructor() {
    throw new Error('multipart form bodies are not part of the host service build; send JSON');
  }
};
