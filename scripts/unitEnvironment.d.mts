/** Every `Environment=` setting of the unit, by name. */
export declare function unitSettings(): Record<string, string>;
/** The unit's NODE_OPTIONS; a unit without them is an error. */
export declare function unitNodeOptions(): string;
